// Word lists the task pages draw from, written for this project. They reach the page as the global `WORDS`.

/** Latin filler words (the public-domain "lorem ipsum" vocabulary). */
export const LOREM_WORDS = [
  'lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit', 'sed', 'eiusmod', 'tempor',
  'incididunt', 'labore', 'dolore', 'magna', 'aliqua', 'enim', 'minim', 'veniam', 'quis', 'nostrud', 'ullamco',
  'laboris', 'nisi', 'aliquip', 'commodo', 'consequat', 'duis', 'aute', 'irure', 'reprehenderit', 'voluptate',
  'velit', 'esse', 'cillum', 'fugiat', 'nulla', 'pariatur', 'excepteur', 'sint', 'occaecat', 'cupidatat', 'proident',
  'sunt', 'culpa', 'officia', 'deserunt', 'mollit', 'anim', 'laborum', 'blandit', 'viverra', 'tortor', 'purus',
  'morbi', 'etiam', 'nunc', 'felis', 'justo', 'mauris', 'sapien', 'turpis', 'lectus', 'gravida', 'egestas',
];

/** Given names (capitalised). */
export const FIRST_NAMES = [
  'Adrian', 'Alma', 'Bernard', 'Bianca', 'Carlos', 'Celia', 'Dmitri', 'Dorothy', 'Elias', 'Esther', 'Felix', 'Fiona',
  'Gideon', 'Greta', 'Hector', 'Helena', 'Ignacio', 'Irene', 'Jasper', 'Julia', 'Kenji', 'Klara', 'Lionel', 'Lucia',
  'Marcus', 'Mirela', 'Nathan', 'Nadia', 'Oscar', 'Olga', 'Pablo', 'Petra', 'Quentin', 'Rosa', 'Rafael', 'Sabine',
  'Tobias', 'Tamara', 'Ulrich', 'Ursula', 'Victor', 'Vera', 'Walter', 'Wanda', 'Xavier', 'Yusuf', 'Yvonne', 'Zoran',
  'Zelda', 'Arturo',
];

export const COUNTRIES = [
  'Argentina', 'Australia', 'Austria', 'Belgium', 'Bolivia', 'Brazil', 'Canada', 'Chile', 'Colombia', 'Croatia',
  'Denmark', 'Ecuador', 'Egypt', 'Estonia', 'Finland', 'France', 'Germany', 'Ghana', 'Greece', 'Hungary', 'Iceland',
  'India', 'Indonesia', 'Ireland', 'Italy', 'Japan', 'Kenya', 'Latvia', 'Lithuania', 'Macedonia', 'Malaysia',
  'Mexico', 'Morocco', 'Nepal', 'Netherlands', 'Norway', 'Peru', 'Poland', 'Portugal', 'Romania', 'Senegal',
  'Serbia', 'Slovenia', 'Spain', 'Sweden', 'Thailand', 'Tunisia', 'Turkey', 'Uruguay', 'Vietnam',
  // Multi-word names: choose-list goals name them unquoted ("Select New Zealand from the list …").
  'Costa Rica', 'El Salvador', 'New Zealand', 'Sri Lanka', 'South Africa',
];

/** US airports: [city and state, IATA code]. An autocomplete entry reads "City, ST (CODE)". */
export const AIRPORTS: ReadonlyArray<readonly [string, string]> = [
  ['Albuquerque, NM', 'ABQ'], ['Anchorage, AK', 'ANC'], ['Atlanta, GA', 'ATL'], ['Austin, TX', 'AUS'],
  ['Boise, ID', 'BOI'], ['Boston, MA', 'BOS'], ['Buffalo, NY', 'BUF'], ['Charleston, SC', 'CHS'],
  ['Charlotte, NC', 'CLT'], ['Cincinnati, OH', 'CVG'], ['Cleveland, OH', 'CLE'], ['Columbus, OH', 'CMH'],
  ['Dallas, TX', 'DFW'], ['Denver, CO', 'DEN'], ['Des Moines, IA', 'DSM'], ['Detroit, MI', 'DTW'],
  ['El Paso, TX', 'ELP'], ['Fresno, CA', 'FAT'], ['Hartford, CT', 'BDL'], ['Honolulu, HI', 'HNL'],
  ['Houston, TX', 'IAH'], ['Indianapolis, IN', 'IND'], ['Jacksonville, FL', 'JAX'], ['Kansas City, MO', 'MCI'],
  ['Las Vegas, NV', 'LAS'], ['Lexington, KY', 'LEX'], ['Little Rock, AR', 'LIT'], ['Los Angeles, CA', 'LAX'],
  ['Louisville, KY', 'SDF'], ['Memphis, TN', 'MEM'], ['Miami, FL', 'MIA'], ['Milwaukee, WI', 'MKE'],
  ['Minneapolis, MN', 'MSP'], ['Nashville, TN', 'BNA'], ['New Orleans, LA', 'MSY'], ['Omaha, NE', 'OMA'],
  ['Orlando, FL', 'MCO'], ['Philadelphia, PA', 'PHL'], ['Phoenix, AZ', 'PHX'], ['Pittsburgh, PA', 'PIT'],
  ['Portland, OR', 'PDX'], ['Raleigh, NC', 'RDU'], ['Reno, NV', 'RNO'], ['Sacramento, CA', 'SMF'],
  ['Salt Lake City, UT', 'SLC'], ['San Diego, CA', 'SAN'], ['Seattle, WA', 'SEA'], ['Spokane, WA', 'GEG'],
  ['Tucson, AZ', 'TUS'], ['Tulsa, OK', 'TUL'],
];

/** Page script defining the global WORDS and small DOM/random helpers (`ui`) shared by task pages. */
export const TASK_UTILS_JS = `
var WORDS = ${JSON.stringify({ lorem: LOREM_WORDS, firstNames: FIRST_NAMES, countries: COUNTRIES, airports: AIRPORTS })};
var ui = (function () {
  var ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return {
    /** Create an element: attrs become attributes (style too), text becomes its textContent. */
    el: function (tag, attrs, text) {
      var e = document.createElement(tag);
      if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
      if (text !== undefined && text !== null) e.textContent = text;
      return e;
    },
    /** n words drawn with replacement from the lorem list. */
    loremWords: function (n) {
      var out = [];
      for (var i = 0; i < n; i++) out.push(core.sample(WORDS.lorem));
      return out;
    },
    /**
     * n lorem words as running text, split into tokens: sentences start capitalised, a token may end a sentence
     * ('.', p = 0.15) or a clause (',', p = 0.1), the last one always ends with '.'.
     */
    sentenceWords: function (n) {
      var out = [], capital = true;
      for (var i = 0; i < n; i++) {
        var w = core.sample(WORDS.lorem);
        if (capital) w = w.charAt(0).toUpperCase() + w.slice(1);
        var r = Math.random();
        capital = i === n - 1 || r < 0.15;
        out.push(w + (capital ? '.' : r < 0.25 ? ',' : ''));
      }
      return out;
    },
    /** Random alphanumeric string with length in [minLen, maxLen] (both inclusive). */
    randomString: function (minLen, maxLen) {
      var n = core.randi(minLen, maxLen + 1), s = '';
      for (var i = 0; i < n; i++) s += ALNUM.charAt(core.randi(0, ALNUM.length));
      return s;
    },
    /** k distinct items of list, in random order. */
    sampleDistinct: function (list, k) { return core.shuffle(list.slice()).slice(0, k); },
    capitalise: function (w) { return w.charAt(0).toUpperCase() + w.slice(1); },
    resetArea: function () {
      var area = document.getElementById('area');
      area.innerHTML = '';
      return area;
    },
    setQuery: function (text) { document.getElementById('query').textContent = text; }
  };
})();
`;
