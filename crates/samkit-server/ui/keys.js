// Keyboard shortcuts (the list shown in the help panel, index.html). `a` holds the actions.
import { isTyping } from './viewer.js';

export function shortcutHandler(a) {
  return function onKey(e) {
    if (isTyping(e)) return;
    if (a.helpOpen() && e.key !== '?') return;
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
    let handled = true;
    switch (k) {
      case 'Enter': a.accept(); break;
      case 'Escape': a.clear(); break;
      case 'c': case 'C': a.cycle(e.shiftKey ? -1 : 1); break;
      case 'Tab':
        if (a.candidateCount() > 1) a.cycle(e.shiftKey ? -1 : 1);
        else handled = false;
        break;
      case 'b': case 'B': a.tool('brush'); break;
      case 'e': case 'E': a.tool('eraser'); break;
      case 'v': case 'V': a.tool('prompt'); break;
      case '[': a.brushSize(1 / 1.25); break;
      case ']': a.brushSize(1.25); break;
      case 'n': case 'N': case 'ArrowRight': a.image(+1); break;
      case 'p': case 'P': case 'ArrowLeft': a.image(-1); break;
      case '+': case '=': a.zoom(1.25); break;
      case '-': case '_': a.zoom(0.8); break;
      case 'f': case 'F': case '0': a.fit(); break;
      case 'h': case 'H': a.toggleInstances(); break;
      case 'o': case 'O': a.outline(); break;
      case '?': a.help(); break;
      default:
        if (/^[1-9]$/.test(k)) a.category(Number(k) - 1);
        else handled = false;
    }
    if (handled) e.preventDefault();
  };
}
