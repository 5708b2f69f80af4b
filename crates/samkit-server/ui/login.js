// The log-in page. With accounts (samkit users add): name and password, POST /api/login,
// then the app. Without accounts the server is one person's and signs the browser in
// through the address it printed (…/?token=…); this page says so.

const $ = (s) => document.querySelector(s);
const form = $('#login-form');
const message = $('#login-message');
const help = $('#login-help');

async function json(res) {
  try { return await res.json(); } catch { return {}; }
}

async function start() {
  let s;
  try {
    s = await json(await fetch('/api/session'));
  } catch (e) {
    message.textContent = `The samkit server does not answer (${e.message}); is it running?`;
    return;
  }
  if (s.signed_in) {
    location.replace('/');
    return;
  }
  if (s.mode === 'local') {
    message.textContent = 'This page needs the address samkit printed.';
    help.textContent = 'This project has no accounts, so only whoever started the server can use it: open the '
      + 'address that "samkit serve" (or "samkit demo") printed in its terminal — it ends in /?token=… — '
      + 'or add users with "samkit users add NAME --role admin".';
    help.hidden = false;
    return;
  }
  form.hidden = false;
  form.querySelector('[name=name]').focus();
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  message.textContent = '';
  // form.name is the form's own name attribute: the fields come from form.elements.
  const { name, password } = form.elements;
  const body = { name: name.value, password: password.value };
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const res = await fetch('/api/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.ok) {
      location.replace('/');
      return;
    }
    const err = await json(res);
    message.textContent = err.error || `Sign-in failed (HTTP ${res.status}).`;
    password.value = '';
    password.focus();
  } catch (e2) {
    message.textContent = `The samkit server does not answer (${e2.message}).`;
  } finally {
    button.disabled = false;
  }
});

start();
