import { describeTransferScenarios } from './transfer.js';
import { postgresTarget } from './helpers.js';

describeTransferScenarios(postgresTarget());
