// Keyboard shortcuts (the list shown in the help panel, index.html). `a` holds the actions.
// Where the focus is decides who gets a key: a text field keeps its keys (Esc leaves it);
// a focused drop-down keeps the keys it uses (arrows, Enter, Space, Home/End) and passes
// every shortcut on instead of swallowing it (Esc leaves it); a focused button, link or
// list row keeps Enter and Space; an open dialog keeps everything but ?.

const SELECT_KEYS = new Set(['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Enter', ' ', 'Home', 'End', 'PageUp', 'PageDown', 'Tab']);
const TEXT_INPUTS = new Set(['text', 'search', 'number', 'email', 'password', 'url', 'tel', '']);

/** Whether the focused element `t` takes key `e` itself (so it is no shortcut). */
export function focusedElementTakes(e) {
  const t = e.target;
  if (!t || t === document.body || !t.tagName) return false;
  const k = e.key;
  if (t.isContentEditable || t.tagName === 'TEXTAREA' || (t.tagName === 'INPUT' && TEXT_INPUTS.has(t.type))) {
    if (k === 'Escape') t.blur();
    return true;
  }
  if (t.tagName === 'SELECT') {
    if (k === 'Escape') {
      t.blur();
      return true;
    }
    return SELECT_KEYS.has(k) || e.ctrlKey || e.metaKey;
  }
  if (t.tagName === 'INPUT' && t.type === 'range') return k.startsWith('Arrow') || k === 'Home' || k === 'End';
  if (k === 'Enter' || k === ' ') {
    return t.matches('button, a[href], summary, label.button, [role="button"], [role="option"], input');
  }
  return false;
}

export function shortcutHandler(a) {
  return function onKey(e) {
    if (e.defaultPrevented) return; // handled where it happened (the image list)
    if (focusedElementTakes(e)) return;
    if (a.modalOpen() && e.key !== '?') return;
    const k = e.key;
    const ctrl = e.ctrlKey || e.metaKey;
    if (ctrl && (k === 'z' || k === 'Z')) {
      e.preventDefault();
      a.undo(e.shiftKey);
      return;
    }
    if (ctrl && (k === 'y' || k === 'Y')) {
      e.preventDefault();
      a.undo(true);
      return;
    }
    if (ctrl || e.altKey) return;
    // A shortcut typed in a focused drop-down: the drop-down lets go of the focus, so the
    // keys that follow are shortcuts too.
    const leaveSelect = () => e.target.tagName === 'SELECT' && e.target.blur();
    let handled = true;
    switch (k) {
      case 'Enter': if (e.shiftKey) a.acceptAndNext(); else a.accept(); break;
      case 'Escape': a.clear(); break;
      case 'c': case 'C': a.cycle(e.shiftKey ? -1 : 1); break;
      case 'Tab':
        // Cycles candidates from the canvas only: elsewhere Tab moves the focus as usual.
        if (a.candidateCount() > 1 && (e.target === document.body || e.target.tagName === 'CANVAS')) a.cycle(e.shiftKey ? -1 : 1);
        else handled = false;
        break;
      case 'b': case 'B': a.tool('brush'); break;
      case 'e': case 'E': a.tool('eraser'); break;
      case 'v': case 'V': a.tool('prompt'); break;
      case 'g': case 'G': a.tool('polygon'); break;
      case '[': a.brushSize(1 / 1.25); break;
      case ']': a.brushSize(1.25); break;
      case 'ArrowDown': if (!a.slice(+1)) handled = false; break;
      case 'ArrowUp': if (!a.slice(-1)) handled = false; break;
      case 'a': case 'A': if (!a.windowTool()) handled = false; break;
      case 'n': case 'N': case 'ArrowRight': a.image(+1); break;
      case 'p': case 'P': case 'ArrowLeft': a.image(-1); break;
      case '+': case '=': a.zoom(1.25); break;
      case '-': case '_': a.zoom(0.8); break;
      case 'f': case 'F': case '0': a.fit(); break;
      case 'h': case 'H': a.toggleInstances(); break;
      case 'o': case 'O': a.outline(); break;
      case 't': case 'T': a.status('todo'); break;
      case 'w': case 'W': a.status('in_progress'); break;
      case 'd': case 'D': a.status('done'); break;
      case 'r': case 'R': a.status('needs_review'); break;
      case 'l': case 'L': a.panel('left'); break;
      case 'i': case 'I': a.panel('right'); break;
      case 'k': case 'K': a.categories(); break;
      case '/': a.search(); break;
      case '?': a.help(); break;
      default:
        if (/^[1-9]$/.test(k)) a.category(Number(k) - 1);
        else handled = false;
    }
    if (handled) {
      e.preventDefault();
      leaveSelect();
    }
  };
}
