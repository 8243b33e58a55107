/**
 * The sandbox engine the test suites run plugins on, read in this one place: ROUTR_SANDBOX_ENGINE (auto,
 * isolated-vm or quickjs; default auto: isolated-vm on Node, quickjs on Bun and Deno). So the plugin-level suites
 * run per engine with `ROUTR_SANDBOX_ENGINE=quickjs npm test`; the contract suites name their engine themselves.
 */
import { createEngine, SANDBOX_ENGINE_CHOICES, type SandboxEngine, type SandboxEngineChoice, type SandboxEngineOptions } from '../../sandbox/index.js';

export function testEngineChoice(): SandboxEngineChoice {
  const named = process.env.ROUTR_SANDBOX_ENGINE || 'auto';
  if (!SANDBOX_ENGINE_CHOICES.includes(named as SandboxEngineChoice)) {
    throw new Error(`ROUTR_SANDBOX_ENGINE=${named}: expected one of ${SANDBOX_ENGINE_CHOICES.join(', ')}`);
  }
  return named as SandboxEngineChoice;
}

export function testEngine(options: Omit<SandboxEngineOptions, 'engine'> = {}): SandboxEngine {
  return createEngine({ ...options, engine: testEngineChoice() });
}
