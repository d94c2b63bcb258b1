import { postgresTarget } from './helpers.js';
import { describeEntityScenarios } from './scenarios.js';

describeEntityScenarios(postgresTarget());
