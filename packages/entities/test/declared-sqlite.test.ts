import { describeDeclaredScenarios } from './declared.js';
import { sqliteTarget } from './helpers.js';

describeDeclaredScenarios(sqliteTarget());
