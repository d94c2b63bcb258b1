import { describeTransferScenarios } from './transfer.js';
import { mysqlTarget } from './helpers.js';

describeTransferScenarios(mysqlTarget());
