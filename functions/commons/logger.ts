import { Logger } from '@aws-lambda-powertools/logger';

/** The structured JSON logger shared by every handler; ids go in fields, not in messages. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'percept' });
