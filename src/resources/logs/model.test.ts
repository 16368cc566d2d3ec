import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../model/json.js';
import { logRecord, renderLog } from './model.js';

describe('audit entries', () => {
  it('are rendered with their keys in canonical order', () => {
    const entry = {
      id: 'c8c5cfd2-a06d-4472-a332-79b40c907b82',
      owner: '7c227c42-b628-49ba-b2f4-b80b8fc651b1',
      actor: '7c227c42-b628-49ba-b2f4-b80b8fc651b1',
      action: 'create',
      category: 'Servers',
      details: '{"name": "x"}',
      success: false,
      error_type: 'validation',
      error_point: 'cpu',
      error_message: 'too small',
      timestamp: '2026-11-27 14:09:40.162000+00:00',
      target: '90533bf3-5943-46be-a834-03a77d764701',
    };
    expect(logRecord(entry).detail).toBe(canonicalJson(renderLog(entry)));
  });
});
