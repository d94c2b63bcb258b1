import { mysqlTarget } from './helpers.js';
import { describeEntityScenarios } from './scenarios.js';

describeEntityScenarios(mysqlTarget());
