// The /v1/stream client: authenticates with a first frame, subscribes with the last
// cursor of each channel (the server replays what was missed: no gap, no duplicate),
// answers pings, and reconnects with backoff after any close.

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

export class LiveStream {
  constructor({ apiKey, channels, onMessage, onStatus, onLagged }) {
    this.apiKey = apiKey;
    this.channels = channels; // {name: filter}
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onLagged = onLagged || (() => {});
    this.cursors = {};
    this.retryMs = RETRY_MIN_MS;
    this.stopped = false;
    this.socket = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.socket) this.socket.close(1000, "bye");
  }

  connect() {
    this.onStatus(Object.keys(this.cursors).length ? "reconnecting" : "connecting");
    const url = new URL("../v1/stream", location.href); // keeps a gateway's path prefix
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.hash = "";
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: "auth", apiKey: this.apiKey }));
    socket.onmessage = (event) => this.handle(socket, JSON.parse(event.data));
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      if (event.code === 4401 || event.code === 4403) {
        this.onStatus("error", event.reason || "refused");
        return; // a wrong key does not get better by retrying
      }
      if (this.stopped) { this.onStatus("idle"); return; }
      this.onStatus("reconnecting");
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    };
  }

  handle(socket, frame) {
    switch (frame.type) {
      case "welcome":
        this.retryMs = RETRY_MIN_MS;
        for (const [channel, filter] of Object.entries(this.channels)) {
          const subscribe = { type: "subscribe", channel, filter };
          if (this.cursors[channel]) subscribe.cursor = this.cursors[channel];
          socket.send(JSON.stringify(subscribe));
        }
        this.onStatus("live");
        break;
      case "subscribed":
        if (!this.cursors[frame.channel]) this.cursors[frame.channel] = frame.cursor;
        break;
      case "message":
        this.cursors[frame.channel] = frame.cursor;
        this.onMessage(frame.channel, frame.data);
        break;
      case "ping":
        socket.send(JSON.stringify({ type: "pong" }));
        break;
      case "lagged":
        this.onLagged(frame.dropped);
        break;
      case "error":
        console.warn(`stream: ${frame.code}: ${frame.message}`);
        break;
      default:
        break;
    }
  }
}
