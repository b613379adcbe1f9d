/**
 * The WebSocket client of docs/protocol.md: request ids matched to replies, reconnection with exponential
 * backoff reported through a status callback, subscriptions re-sent after every reconnect, a heartbeat that
 * notices a dead connection, and prompt results that a newer prompt has superseded are dropped.
 */

import type { PromptMessage, PromptRefused, PromptResult, Scope, ServerMessage } from "./protocol";

export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

const OPEN = 1;
/** Close code the server uses for a socket without a logged-in session (annotator/consumers.py). */
export const CLOSE_UNAUTHENTICATED = 4401;

export type SocketStatus =
  | { state: "connecting"; attempt: number }
  | { state: "open"; reconnected: boolean }
  | { state: "reconnecting"; attempt: number; delayMs: number }
  | { state: "unauthorized" }
  | { state: "closed" };

export class ServerError extends Error {
  override name = "ServerError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A reply that will never come because the connection dropped; the caller decides whether to retry. */
export class ConnectionLostError extends Error {
  override name = "ConnectionLostError";
}

/** A prompt whose result no longer matters because a newer prompt was sent. */
export class SupersededError extends Error {
  override name = "SupersededError";
}

export interface Backoff {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export interface SocketOptions {
  url: string;
  createSocket?: (url: string) => WebSocketLike;
  onStatus?: (status: SocketStatus) => void;
  /** Every server message that is not the reply to a pending request: broadcasts, pushes, hello. */
  onEvent?: (message: ServerMessage) => void;
  backoff?: Backoff;
  /** 0..1; jitter spreads reconnects of many clients after a server restart. */
  random?: () => number;
  /** A reply later than this rejects the request (a decode is ~25 ms; an embedding on CPU ~2 s). */
  requestTimeoutMs?: number;
  /** A ping every this often; no pong before the next ping means the connection is dead. */
  heartbeatMs?: number;
}

interface Pending {
  resolve: (message: ServerMessage) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export function backoffDelay(attempt: number, backoff: Backoff, random: () => number): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** Math.max(0, attempt - 1));
  return Math.round(base * (0.5 + 0.5 * random()));
}

export function scopeKey(scope: Scope): string {
  return `${scope.kind}:${scope.id}`;
}

export class AnnotatorSocket {
  private ws: WebSocketLike | null = null;
  private readonly pending = new Map<string, Pending>();
  private readonly scopes = new Map<string, { scope: Scope; extra: Record<string, unknown> }>();
  private nextId = 1;
  private attempt = 0;
  private everOpened = false;
  private stopped = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private awaitingPong = false;
  private latestPrompt: string | null = null;
  private readonly backoff: Backoff;
  private readonly random: () => number;
  private readonly requestTimeoutMs: number;
  private readonly heartbeatMs: number;
  /** From the server's hello: lets REST saves tell the server which socket not to echo to. */
  socketId: string | null = null;
  username: string | null = null;
  status: SocketStatus = { state: "closed" };

  constructor(private readonly options: SocketOptions) {
    this.backoff = options.backoff ?? { initialMs: 500, maxMs: 15_000, factor: 2 };
    this.random = options.random ?? Math.random;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.heartbeatMs = options.heartbeatMs ?? 20_000;
  }

  connect(): void {
    this.stopped = false;
    this.open();
  }

  close(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "client closed");
    this.failPending("The connection was closed.");
    this.setStatus({ state: "closed" });
  }

  get isOpen(): boolean {
    return this.ws?.readyState === OPEN && this.status.state === "open";
  }

  /** Send without expecting a reply; returns false (and drops it) while disconnected. */
  send(message: { type: string } & Record<string, unknown>): boolean {
    if (!this.isOpen) return false;
    this.ws!.send(JSON.stringify(message));
    return true;
  }

  /**
   * Send with a fresh request_id and resolve with the reply that carries it (reject on an error reply, and
   * with ServerError "timeout" when none came within `timeoutMs`, by default the socket's request timeout).
   */
  request<T extends ServerMessage = ServerMessage>(
    message: { type: string } & Record<string, unknown>,
    timeoutMs: number = this.requestTimeoutMs,
  ): Promise<T> {
    const requestId = `r${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      if (!this.isOpen) {
        reject(new ConnectionLostError("Not connected to the server; it will be retried once reconnected."));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new ServerError("timeout", "The server did not answer in time."));
      }, timeoutMs);
      this.pending.set(requestId, { resolve: resolve as (m: ServerMessage) => void, reject, timer });
      this.ws!.send(JSON.stringify({ ...message, request_id: requestId }));
    });
  }

  /**
   * Subscribe to a scope now and again after every reconnect (replies after a reconnect go to onEvent).
   * `extra` rides along (e.g. the label being annotated, which picks the model's input window); calling
   * again for the same scope replaces it.
   */
  subscribe(scope: Scope, extra: Record<string, unknown> = {}): Promise<ServerMessage> {
    this.scopes.set(scopeKey(scope), { scope, extra });
    return this.request({ type: "subscribe", scope, ...extra });
  }

  unsubscribe(scope: Scope): void {
    this.scopes.delete(scopeKey(scope));
    this.send({ type: "unsubscribe", scope });
  }

  /**
   * Send a prompt. Only the newest prompt's result matters: sending one rejects the previous, still
   * unanswered prompt with SupersededError, and its late result is dropped.
   */
  prompt(message: PromptMessage, timeoutMs?: number): Promise<PromptResult | PromptRefused> {
    if (this.latestPrompt) {
      const previous = this.pending.get(this.latestPrompt);
      if (previous) {
        clearTimeout(previous.timer);
        this.pending.delete(this.latestPrompt);
        previous.reject(new SupersededError("A newer prompt replaced this one."));
      }
    }
    const id = `r${this.nextId}`; // the id request() is about to use
    this.latestPrompt = id;
    return this.request<PromptResult | PromptRefused>({ type: "prompt", ...message }, timeoutMs);
  }

  private open(): void {
    this.setStatus({ state: "connecting", attempt: this.attempt });
    const create = this.options.createSocket ?? ((url: string) => new WebSocket(url) as unknown as WebSocketLike);
    let ws: WebSocketLike;
    try {
      ws = create(this.options.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      // Subscriptions go first: the server refuses per-series messages (view, prompt) before them, and the
      // status callback below may send those.
      for (const { scope, extra } of this.scopes.values()) ws.send(JSON.stringify({ type: "subscribe", scope, ...extra }));
      this.setStatus({ state: "open", reconnected });
      this.startHeartbeat();
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.receive(ev.data);
    };
    ws.onerror = () => {
      /* onclose follows and handles it */
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopHeartbeat();
      this.failPending("The connection to the server dropped before it answered.");
      if (this.stopped) return;
      if (ev.code === CLOSE_UNAUTHENTICATED) {
        this.stopped = true;
        this.setStatus({ state: "unauthorized" });
        return;
      }
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    this.attempt += 1;
    const delayMs = backoffDelay(this.attempt, this.backoff, this.random);
    this.setStatus({ state: "reconnecting", attempt: this.attempt, delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped) this.open();
    }, delayMs);
  }

  private receive(data: unknown): void {
    let message: ServerMessage;
    try {
      message = JSON.parse(String(data)) as ServerMessage;
    } catch {
      return; // not ours to interpret; the protocol only sends JSON
    }
    if (message.type === "pong") this.awaitingPong = false;
    if (message.type === "hello") {
      this.socketId = message.socket_id ?? null;
      this.username = message.user;
    }
    const requestId = "request_id" in message ? message.request_id : undefined;
    const pending = requestId ? this.pending.get(requestId) : undefined;
    if (pending && requestId) {
      clearTimeout(pending.timer);
      this.pending.delete(requestId);
      if (message.type === "error") pending.reject(new ServerError(message.code, message.message));
      else pending.resolve(message);
      return;
    }
    if (message.type === "prompt.result" || message.type === "prompt.refused") return; // superseded or timed out: drop it
    if (message.type === "pong" && requestId) return; // our heartbeat
    this.options.onEvent?.(message);
  }

  private failPending(reason: string): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new ConnectionLostError(reason));
      this.pending.delete(id);
    }
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    this.awaitingPong = false;
    this.heartbeatTimer = setInterval(() => {
      if (this.awaitingPong) {
        // No pong for a whole period: the TCP connection is dead even if the browser hasn't noticed.
        const ws = this.ws;
        ws?.close(4000, "heartbeat timeout");
        if (ws && ws.onclose) ws.onclose({ code: 4000, reason: "heartbeat timeout" });
        return;
      }
      this.awaitingPong = true;
      this.ws?.send(JSON.stringify({ type: "ping", request_id: `hb${this.nextId++}` }));
    }, this.heartbeatMs);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private setStatus(status: SocketStatus): void {
    this.status = status;
    this.options.onStatus?.(status);
  }
}

/** ws:// or wss:// URL of the endpoint on the page's own host. */
export function socketUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/`;
}

/** A sentence for the status banner. */
export function describeStatus(status: SocketStatus): string | null {
  switch (status.state) {
    case "open":
      return status.reconnected ? "Reconnected." : null;
    case "connecting":
      return status.attempt > 0 ? "Reconnecting…" : "Connecting…";
    case "reconnecting":
      return `Connection lost. Reconnecting in ${Math.ceil(status.delayMs / 1000)} s (attempt ${status.attempt})…`;
    case "unauthorized":
      return "Your session has expired. Log in again to keep working.";
    case "closed":
      return null;
  }
}
