/** The bench's progress lines, prefixed so they stand out among the servers' own output. */
export const log = (line: string): void => console.log(`[bench] ${line}`);
