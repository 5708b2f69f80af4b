// Who is signed in (GET /api/session) and what the page shows them. A project with
// accounts shows the user and "Sign out" instead of the free name field; controls a role
// may not use are hidden by CSS (body[data-role], .admin-only / .review-only): the server
// refuses them anyway (403), this only keeps them out of the way.

import { $, showInfo } from './dom.js';
import { api } from './state.js';
import { showError } from './errors.js';

export const session = { mode: 'local', user: null, role: 'admin' };

/** Reads the session; false when the browser is not signed in (the page goes to log-in). */
export async function loadSession() {
  const s = await api.session();
  if (!s.signed_in) {
    location.replace('/login.html');
    return false;
  }
  session.mode = s.mode;
  session.user = s.user?.name || null;
  session.role = s.user?.role || 'admin';
  document.body.dataset.role = session.role;
  document.body.dataset.mode = session.mode;
  const name = $('#user-name');
  if (session.mode === 'accounts') {
    // Changes are the signed-in user's; the name field has nothing to say.
    api.user = session.user;
    $('#signed-in-name').textContent = `${session.user} (${session.role})`;
    $('#sign-out').addEventListener('click', signOut);
  } else {
    name.value = api.user;
    name.addEventListener('change', () => {
      api.setUser(name.value);
      showInfo(`Annotating as "${api.user || 'anonymous'}"`, 2500);
    });
  }
  return true;
}

/** Whether the signed-in user may change the project's settings (categories, guidelines). */
export const isAdmin = () => session.role === 'admin';

async function signOut() {
  try {
    await api.post('/api/logout');
  } catch (e) {
    showError(e, 'could not sign out');
    return;
  }
  location.replace('/login.html');
}
