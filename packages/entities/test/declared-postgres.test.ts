import { describeDeclaredScenarios } from './declared.js';
import { postgresTarget } from './helpers.js';

describeDeclaredScenarios(postgresTarget());
