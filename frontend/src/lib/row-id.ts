/**
 * A row id from a route parameter: a positive integer the server can hold, else null (a page
 * says "not an id" instead of sending a request the API answers with a raw 422).
 * Not responsible for whether the row exists (the API's 404 says that).
 */

/** The server's largest row id (2**31 - 1: a PostgreSQL integer). */
export const MAX_ROW_ID = 2 ** 31 - 1;

export function parseRowId(param: string | undefined): number | null {
  if (param === undefined || !/^[1-9]\d*$/.test(param)) return null;
  const id = Number(param);
  return id <= MAX_ROW_ID ? id : null;
}
