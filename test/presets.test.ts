// Presets: the documented sizes and layer patterns (docs/lfm2.md §1), from the tensor list the weight writer uses.
import { describe, expect, it } from 'vitest';
import { lfm2TensorSpecs } from '../lib/engine/init-weights.ts';
import { ffnWidth, PRESET_NAMES, presetConfig } from '../lib/engine/presets.ts';

const count = (name: (typeof PRESET_NAMES)[number]) =>
  lfm2TensorSpecs(presetConfig(name)).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);

describe('presets', () => {
  it('have the parameter counts and layer patterns the docs state', () => {
    expect(count('tiny')).toBe(345_728);
    expect(count('small')).toBe(1_822_912);
    expect(count('lfm2-350m')).toBe(354_483_968);
    const small = presetConfig('small');
    expect(small.layer_types).toEqual(['conv', 'conv', 'full_attention', 'conv', 'conv', 'full_attention', 'conv', 'full_attention']);
    expect(ffnWidth(small)).toBe(352);
    expect((small.hidden_size as number) / (small.num_attention_heads as number)).toBe(32);
  });
});
