import { describeDeclaredScenarios } from './declared.js';
import { mysqlTarget } from './helpers.js';

describeDeclaredScenarios(mysqlTarget());
