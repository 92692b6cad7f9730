/**
 * Types of miniapp-client.js (served beside it at /static/miniapp-client.d.ts). Written by hand
 * and checked: tests/ts/sdk.ts uses every export under `tsc --noEmit` (`make contract`).
 * Response bodies are typed loosely here (`ApiBody`); for exact shapes generate types from
 * /openapi.json with openapi-typescript and pass them as the type parameter of the helpers.
 */

/** The language of the API's words: sent as Accept-Language ('zh': Simplified Chinese). */
export type Language = 'zh' | 'en';

/** A JSON body as the API sends it. */
export type ApiBody = { [key: string]: unknown };

/** One answer of an adapter: the platform's response, normalised. */
export interface AdapterResponse<T = unknown> {
  status: number;
  headers: { [name: string]: string };
  data: T;
}

/** The platform's request task (wx.request / my.request return one); abort() on timeout. */
export interface RequestTask {
  abort(): void;
}

export interface AdapterRequest {
  url: string;
  method: string;
  data?: unknown;
  headers: { [name: string]: string };
  timeout?: number;
  responseType?: 'arraybuffer';
  onTask?: (task: RequestTask) => void;
}

export interface Storage {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  remove(key: string): void;
}

export interface Adapter {
  channel?: 'wechat' | 'alipay';
  storage?: Storage;
  request(opts: AdapterRequest): Promise<AdapterResponse>;
}

export interface RetryBudget {
  recordRequest(): void;
  tryRetry(): boolean;
  remaining(): number;
}

export interface RetryBudgetOptions {
  ratio?: number;
  minRetries?: number;
  windowMs?: number;
  now?: () => number;
}

/** The qrcode-generator factory (vendor/qrcode.js), as far as the client uses it. */
export interface QrEncoder {
  (typeNumber: number, errorCorrectionLevel: 'L' | 'M' | 'Q' | 'H'): {
    addData(data: string, mode?: string): void;
    make(): void;
    getModuleCount(): number;
    isDark(row: number, col: number): boolean;
  };
}

export interface ClientOptions {
  adapter: Adapter;
  baseUrl: string;
  /** The session token, or how to read it; null/empty when logged out. */
  token?: string | null | (() => string | null | undefined);
  /** Called with each new token (login, re-login) and null on logout: keep it. */
  onToken?: (token: string | null) => void;
  /** Error messages, result guidance and rejections in this language ('zh', the default, or
   * 'en'), sent as Accept-Language on every request; also alternativesView's titles. */
  language?: Language;
  /** How to get a new session on 401; one call at a time, shared by every waiting request. */
  relogin?: () => Promise<string>;
  /** Or: how to get a fresh platform login code (wxLoginCode(wx), myAuthCode(my)). */
  platformCode?: () => Promise<string>;
  storage?: Storage;
  random?: () => number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Attempts of a retryable request (3). */
  maxAttempts?: number;
  /** A longer Retry-After than this is not waited for (30 s). */
  maxWaitSeconds?: number;
  /** Per attempt, in ms (5000); 0: the platform's own (60 s on WeChat). */
  timeout?: number;
  /** getCode with a saved code: gives up on the network after this many ms (3000). */
  offlineAfter?: number;
  /** The most one call waits in the waiting room, in all (180 s). */
  maxQueueWaitSeconds?: number;
  retryBudget?: RetryBudget | RetryBudgetOptions;
  /** One line per retry or wait; never headers or tokens. */
  log?: (line: string) => void;
  /** A QR encoder other than the vendored qrcode-generator. */
  qrcode?: QrEncoder;
}

/** The waiting room's view of a queued call, for a page that shows it. */
export interface QueuePlace {
  position: number | null;
  estimatedWait: number | null;
  ticket: string | null;
}

export interface RequestOptions {
  path: string;
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | string;
  data?: unknown;
  headers?: { [name: string]: string };
  /** Retry overload rejections of a non-GET (only where repeating it is harmless). */
  retryable?: boolean;
  /** A waiting-room ticket kept from a WaitingRoomError: resume that place. */
  ticket?: string;
  /** false: send no session (login, public routes). */
  auth?: boolean;
  /** false: a 401 is not answered with a re-login. */
  relogin?: boolean;
  timeout?: number;
  maxAttempts?: number;
  responseType?: 'arraybuffer';
  /** Called before each wait in the waiting room. */
  onQueue?: (place: QueuePlace) => void;
  /** false: do not wait in the waiting room (reject with WaitingRoomError at once). */
  queue?: boolean;
  /** false: do not share an identical GET in flight. */
  dedupe?: boolean;
}

/** Options of the waiting-room writes (profile, dependents). */
export interface QueueOptions {
  ticket?: string;
  onQueue?: (place: QueuePlace) => void;
  queue?: boolean;
}

/** What the code screen shows, as saved on the phone. */
export interface Code {
  token: string;
  code_id?: string;
  expires_at: string;
  name_masked?: string;
  png_url?: string;
  svg_url?: string;
  /** A signed link for <image src>: no session needed; lapses in 10 to 15 minutes. */
  image_url?: string;
  etag?: string;
}

export interface CodeAnswer {
  code: Code;
  /** true: the saved code, the network or the server being unavailable (see error). */
  offline: boolean;
  error?: ApiError;
}

export interface HistoryPage {
  limit?: number;
  cursor?: string;
}

export interface Alternative {
  kind: string;
  message?: string;
  platform?: string;
  status?: 'ok' | 'busy' | 'down' | string;
  url?: string;
  offline?: boolean;
}

export type AlternativeAction =
  | { type: 'show_code'; code: Code }
  | { type: 'switch_platform'; platform: string }
  | { type: 'copy_link'; url: string }
  | null;

export interface AlternativeItem {
  kind: string;
  title: string;
  text: string;
  action: AlternativeAction;
}

export class ApiError extends Error {
  constructor(status: number, body: unknown, headers: { [name: string]: string } | undefined, nowMs: number);
  /** 0 for a network failure or a timeout. */
  status: number;
  /** The server's machine code (e.g. `waiting_room`, `resident_not_found`), or http_<status>, network_error. */
  code: string;
  detail: { [key: string]: unknown };
  network: boolean;
  timeout: boolean;
  overload: boolean;
  retryAfter: number | null;
  ticket: string | null;
  alternatives: Alternative[];
  requestId: string | null;
  attempts: number;
  budgetExhausted: boolean;
  cachedCode: Code | null;
  reloginError: unknown;
}

export class WaitingRoomError extends ApiError {
  position: number | null;
  estimatedWait: number | null;
  /** Seconds this call already waited in the queue. */
  waited: number;
}

export interface Client {
  request<T = unknown>(req: RequestOptions): Promise<AdapterResponse<T>>;
  login<T = ApiBody>(platformCode: string): Promise<T>;
  logout(): Promise<{ ended: boolean }>;
  logoutEverywhere(): Promise<{ ended: boolean }>;
  setToken(token: string | null | (() => string | null | undefined)): void;
  /** The account id of the current session token, or null. */
  account(): string | null;
  me<T = ApiBody>(): Promise<T>;
  giveConsent<T = ApiBody>(document: string, version: string): Promise<T>;
  withdrawConsent<T = ApiBody>(document: string): Promise<T>;
  startRealName<T = ApiBody>(person: { name: string; id_type: string; id_number: string }): Promise<T>;
  putProfile<T = ApiBody>(profile: ApiBody, opts?: QueueOptions): Promise<T>;
  bindPhone<T = ApiBody>(proof: { code?: string; encrypted_data?: string; iv?: string; response?: string }): Promise<T>;
  addDependent<T = ApiBody>(dependent: ApiBody, opts?: QueueOptions): Promise<T>;
  removeDependent(residentId: string): Promise<unknown>;
  approveLinkRequest(requestId: string): Promise<unknown>;
  declineLinkRequest(requestId: string): Promise<unknown>;
  removeHolder(holderId: string): Promise<unknown>;
  getCode(residentId: string): Promise<CodeAnswer>;
  reissueCode(residentId: string): Promise<Code>;
  cachedCode(residentId: string): Code | null;
  forgetCode(residentId: string): void;
  /** The code's QR modules (dark = true), no quiet zone; error correction M, version <= 10. */
  qrMatrix(token: string): boolean[][];
  results<T = ApiBody>(): Promise<T>;
  history<T = ApiBody>(page?: HistoryPage): Promise<T>;
  subscriptions<T = ApiBody>(): Promise<T>;
  /** The raw requestSubscribeMessage result object, or the accepted template ids. */
  reportSubscriptions<T = ApiBody>(result: string[] | { [key: string]: unknown }): Promise<T>;
  appConfig<T = ApiBody>(): Promise<T>;
  legal<T = ApiBody>(): Promise<T>;
  exportData<T = ApiBody>(): Promise<T>;
  deleteAccount<T = ApiBody>(): Promise<T>;
  /** alternativesView with the titles in this client's language. */
  alternativesView(
    rejection: { alternatives?: Alternative[] } | null | undefined,
    opts?: AlternativesOptions
  ): AlternativeItem[];
  /** The language of this client's requests. */
  language: Language;
  budget: RetryBudget;
}

/** A canvas 2D context as both platforms give it (canvas type="2d", or the legacy one). */
export interface CanvasLike {
  fillStyle: unknown;
  fillRect(x: number, y: number, width: number, height: number): void;
  draw?: () => void;
}

export interface DrawOptions {
  size?: number;
  x?: number;
  y?: number;
  /** Quiet zone in modules (4). */
  margin?: number;
  dark?: string;
  light?: string;
}

export function createClient(options: ClientOptions): Client;
export function createRetryBudget(options?: RetryBudgetOptions): RetryBudget;
export function fromWx(wx: unknown): Adapter;
export function fromMy(my: unknown): Adapter;
export function wxLoginCode(wx: unknown): Promise<string>;
export function myAuthCode(my: unknown): Promise<string>;
export function accountOf(token: string | null | undefined): string | null;
export function qrMatrix(token: string, encoder?: QrEncoder): boolean[][];
export function drawQr(ctx: CanvasLike, matrix: boolean[][], opts?: DrawOptions): void;
export interface AlternativesOptions {
  cachedCode?: Code | null;
  now?: () => number;
  /** Of the titles ('zh' by default); the texts are the server's, in the client's language. */
  language?: Language;
}

export function alternativesView(
  rejection: { alternatives?: Alternative[] } | null | undefined,
  opts?: AlternativesOptions
): AlternativeItem[];
