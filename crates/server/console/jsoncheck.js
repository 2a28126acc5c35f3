// Checks JSON text before it is sent and says where it is wrong: the line and column, read
// from the browser's parse error (Chromium names a position, Firefox a line and column).

/** `{ok: true, value}` or `{ok: false, message, line, column}` (line and column from 1). */
export function check(text) {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    const message = e.message;
    let line = null;
    let column = null;
    const lc = message.match(/line (\d+) column (\d+)/);
    const pos = message.match(/position (\d+)/);
    if (lc) {
      line = Number(lc[1]);
      column = Number(lc[2]);
    } else {
      const at = pos ? Number(pos[1]) : text.length;
      const before = text.slice(0, at).split('\n');
      line = before.length;
      column = before[before.length - 1].length + 1;
    }
    return { ok: false, message, line, column };
  }
}
