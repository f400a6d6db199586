// JSON schemas served at GET /schema, in the shape of OpenEnv's SchemaResponse {action, observation, state}, written
// from the wire types in protocol.ts (BrowserGymAction / BrowserGymObservation / BrowserGymState).

const str = { type: 'string' } as const;
const bool = { type: 'boolean' } as const;

export const ACTION_SCHEMA = {
  title: 'BrowserGymAction',
  type: 'object',
  properties: {
    action_str: { ...str, description: "A BrowserGym high-level action, e.g. click('13') or fill('14', 'text')" },
    metadata: { type: 'object', description: 'Additional metadata for the action' },
  },
  required: ['action_str'],
  additionalProperties: false,
};

export const OBSERVATION_SCHEMA = {
  title: 'BrowserGymObservation',
  type: 'object',
  properties: {
    text: { ...str, description: 'axtree_txt, or pruned_html when there is no tree' },
    url: str,
    screenshot: {
      description: '[H][W][3] uint8 lists, or a base64 PNG when the session asked for png; null unless requested',
      anyOf: [{ type: 'array', items: { type: 'array', items: { type: 'array', items: { type: 'integer' } } } }, str, { type: 'null' }],
    },
    goal: str,
    axtree_txt: str,
    pruned_html: str,
    error: { ...str, description: "Error text of the last action ('ExceptionName: message') or of the environment" },
    last_action_error: bool,
    focused_element_bid: str,
    last_action: str,
  },
};

export const STATE_SCHEMA = {
  title: 'BrowserGymState',
  type: 'object',
  properties: {
    episode_id: { type: ['string', 'null'] },
    step_count: { type: 'integer', minimum: 0 },
    benchmark: str,
    task_name: str,
    task_id: str,
    goal: str,
    current_url: str,
    max_steps: { type: ['integer', 'null'] },
    cum_reward: { type: 'number' },
    seed: { type: ['integer', 'null'] },
  },
};

export const SCHEMAS = { action: ACTION_SCHEMA, observation: OBSERVATION_SCHEMA, state: STATE_SCHEMA };
