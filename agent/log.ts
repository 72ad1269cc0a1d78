// Structured JSON logs (pino). Credentials never reach a log line by construction (the parser
// keeps them), and as a second fence any field that looks like one is censored.
import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export const REDACTED_PATHS = [
  'password',
  '*.password',
  'auth',
  '*.auth',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'token',
  '*.token',
  'data',
  '*.data',
];

export function createLogger(
  level: string,
  base: Record<string, unknown>,
  destination: pino.DestinationStream = pino.destination({ fd: 2, sync: true }),
): Logger {
  return pino(
    {
      level,
      base: { ...base },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
