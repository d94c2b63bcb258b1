import { describeTransferScenarios } from './transfer.js';
import { sqliteTarget } from './helpers.js';

describeTransferScenarios(sqliteTarget());
