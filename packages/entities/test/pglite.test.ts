import { pgliteTarget } from './helpers.js';
import { describeEntityScenarios } from './scenarios.js';

describeEntityScenarios(pgliteTarget());
