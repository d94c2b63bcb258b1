import { sqliteTarget } from './helpers.js';
import { describeEntityScenarios } from './scenarios.js';

describeEntityScenarios(sqliteTarget());
