/** An error that becomes an HTTP status with a plain-text message (Loki answers errors as text). */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** 400: a bad parameter, query or body; the message names the broken part. */
export class BadRequest extends HttpError {
  override name = 'BadRequest';
  constructor(message: string) {
    super(400, message);
  }
}
