// The dashboard's calls to cliwrap's own API, each with the key the user typed.
//
// The key lives in sessionStorage (this tab only, gone when it closes); the page itself is
// served without one and holds no data.

const KEY = "cliwrap.key";

export function currentKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(key) {
  if (key) {
    sessionStorage.setItem(KEY, key);
  } else {
    sessionStorage.removeItem(KEY);
  }
}

export function headers(extra = {}) {
  const key = currentKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : { ...extra };
}

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  let code = null;
  try {
    const body = await response.json();
    const error = body.error || {};
    message = error.message || message;
    code = error.code || error.type || null;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message, code);
}

/** GET (or another method on) ``path``; the JSON answer, or an ApiError. */
export async function call(path, { method = "GET", body } = {}) {
  const init = { method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    throw await errorOf(response);
  }
  return response.json();
}

/**
 * Stream a chat completion: ``onText`` gets each piece of the answer as it arrives.
 * Resolves when the stream ends; rejects with an ApiError for an error before or inside it.
 */
export async function streamChat(model, prompt, requestId, onText, signal) {
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", "X-Request-Id": requestId }),
    body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content: prompt }] }),
    signal,
  });
  if (!response.ok) {
    throw await errorOf(response);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      return;
    }
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) {
          continue; // comments are keepalives
        }
        const data = line.slice(5).trim();
        if (data === "[DONE]") {
          return;
        }
        const chunk = JSON.parse(data);
        if (chunk.error) {
          throw new ApiError(200, chunk.error.message, chunk.error.code || chunk.error.type);
        }
        for (const choice of chunk.choices || []) {
          if (choice.delta && choice.delta.content) {
            onText(choice.delta.content);
          }
        }
      }
    }
  }
}
