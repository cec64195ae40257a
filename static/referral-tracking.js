/* Referral tracking, see docs/tracking-script.md. No cookies, no third
 * parties; all in try/catch so the host page never sees our errors. */
(() => { try {
const W = window, D = document, L = location, A = Object.assign;
// Tag pasted twice: first copy wins, no double tracking.
if (W.ReferralTracking) return;
// currentScript is set only during this first synchronous run.
const S = D.currentScript || D.querySelector('script[src*="referral-tracking.js"]'),
  attr = n => S && S.getAttribute('data-' + n),
  ROOT = (attr('base') || (S && S.src || '').replace(/\/static\/referral-tracking\.js.*$/, ''))
  .replace(/\/+$/, ''), API = ROOT + '/api/referral/';
// Both languages ship; the form speaks the program's (GET program → language).
const TEXTS = {
  en: { email: 'Email', name: 'Name (optional)', btn: 'Join now', busy: 'Sending…',
    done: 'Almost done!', ok: 'Please check your inbox: if this address still needs confirming, an email with the link is on its way. Nothing there? Look in your spam folder, or try again in a few minutes.',
    bad_email: 'Please enter a valid email address.', no_consent: 'Please agree to take part.',
    slow: 'Too many attempts. Please wait a minute and try again.',
    offline: 'No connection. Please check your internet connection and try again.',
    err: 'That did not work. Please try again later.', imprint: 'Legal notice', pp: 'Privacy policy' },
  de: { email: 'E-Mail', name: 'Name (optional)', btn: 'Jetzt mitmachen', busy: 'Wird gesendet…',
    done: 'Fast geschafft!', ok: 'Schau in dein Postfach: Wenn diese Adresse noch bestätigt werden muss, ist eine E-Mail mit dem Link unterwegs. Nichts da? Sieh im Spam-Ordner nach oder versuche es in ein paar Minuten erneut.',
    bad_email: 'Bitte gib eine gültige E-Mail-Adresse ein.', no_consent: 'Bitte stimme der Teilnahme zu.',
    slow: 'Zu viele Versuche. Bitte warte eine Minute und versuche es dann erneut.',
    offline: 'Keine Verbindung. Bitte prüfe deine Internetverbindung und versuche es erneut.',
    err: 'Das hat leider nicht geklappt. Bitte versuche es später erneut.', imprint: 'Impressum', pp: 'Datenschutzerklärung' }
},
  okRef = r => typeof r == 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(r),
  okCid = c => /^[1-9]\d{0,15}$/.test(c),
  Q = new URLSearchParams(L.search),
  PAGE = L.origin + L.pathname, // the query may hold personal data
  NO = Promise.resolve({ ok: false });
// JSON POST; credentials:'omit' so no cookies travel cross-origin. The browser
// adds Origin (the page's host: allowed_domains decide whether a conversion counts).
const post = (path, body, keepalive) => {
  body = JSON.stringify(body);
  if (!W.fetch) {
    // Fire-and-forget; a string body is text/plain: no preflight needed.
    try { navigator.sendBeacon(API + path, body); } catch (e) {}
    return NO;
  }
  return fetch(API + path, { method: 'POST', body, keepalive, credentials: 'omit',
    headers: { 'Content-Type': 'application/json' } }).then(r => r.json()).catch(() => NO);
};
// Only with consent; Safari private mode may throw.
const store = (k, v) => {
  if (attr('consent') != 'granted') return null;
  try { return v ? localStorage.setItem(k, v) : localStorage.getItem(k); } catch (e) { return null; }
};
const trackClick = ref => okRef(ref) ? post('track-click', { ref, page: PAGE }, true) : NO;
const trackConversion = (ref, cid) => {
  if (!okRef(ref)) return NO;
  const k = 'rf_conv_' + ref, t = +store(k);
  // 24 h client dedupe (consent only); the server dedupes too.
  if (t && Date.now() - t < 864e5) return Promise.resolve({ ok: true, status: 'duplicate' });
  const b = { ref, page: PAGE };
  if (okCid(cid)) b.click_id = +cid;
  return post('track-conversion', b, true).then(j => (j && j.ok && store(k, '' + Date.now()), j));
};
const ready = fn => {
  const run = () => { try { fn(); } catch (e) {} };
  D.readyState == 'loading' ? D.addEventListener('DOMContentLoaded', run) : run();
};
const $$ = s => D.querySelectorAll(s);
const el = (tag, cls, text) => {
  const e = D.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text; // never innerHTML (XSS)
  return e;
};
// Freebie page: carry ref/click_id on to the thank-you page.
const freebie = () => {
  const ref = Q.get('ref');
  let cid = null;
  if (!okRef(ref)) return;
  const add = u => { u.searchParams.set('ref', ref);
    if (cid) u.searchParams.set('click_id', cid); return u.href; };
  const hidden = (f, n, v) => {
    let i = f.querySelector('input[type=hidden][name=' + n + ']');
    if (!i) f.append(i = A(el('input'), { type: 'hidden', name: n }));
    i.value = v;
  };
  const skip = e => e.hasAttribute('data-referral-skip');
  const carry = () => {
    $$('form').forEach(f => {
      if (skip(f)) return;
      hidden(f, 'ref', ref);
      if (cid) hidden(f, 'click_id', cid);
      // GET forms drop the action's query; attributes as a field named
      // "action" would shadow f.action.
      if (/^post$/i.test(f.getAttribute('method'))) {
        try { f.setAttribute('action', add(new URL(f.getAttribute('action') || L.href, L.href))); } catch (e) {}
      }
    });
    $$('a[href]').forEach(a => {
      try {
        const h = a.getAttribute('href'), u = new URL(h, L.href);
        // Skip in-page anchors (new query = reload), mailto: etc.
        if (h[0] == '#' || !/^https?:$/.test(u.protocol) || skip(a)) return;
        if (u.origin == L.origin || /thank|danke/i.test(u.href) || a.hasAttribute('data-referral-carry'))
          a.setAttribute('href', add(u));
      } catch (e) {}
    });
  };
  ready(carry);
  trackClick(ref).then(j => { if (j && okCid(j.click_id)) { cid = '' + j.click_id; ready(carry); } });
  // Late forms/links: re-run only if an added node is/holds one (so our
  // own hidden inputs cause no loop).
  ready(() => {
    const sel = 'form,a[href]';
    let t = 0;
    new MutationObserver(ms => {
      if (!t && ms.some(m => [].some.call(m.addedNodes, n => n.nodeType == 1 && (n.matches(sel) || n.querySelector(sel)))))
        t = setTimeout(() => { t = 0; ready(carry); }, 50);
    }).observe(D.documentElement, { childList: true, subtree: true });
  });
};
const http = u => /^https?:\/\//i.test(u || ''); // a "javascript:" link would be XSS
// Our stylesheet (signup.css, every rule under .rf-box), loaded before the form shows.
const styled = fn => {
  if (D.querySelector('link[data-rf-css]')) return fn();
  const l = A(el('link'), { rel: 'stylesheet', href: ROOT + '/static/css/signup.css' });
  let done = 0; const go = () => done++ || fn();
  l.setAttribute('data-rf-css', '');
  l.onload = l.onerror = go;
  setTimeout(go, 3000);
  D.head.append(l);
};
const renderForm = (ref, p) => {
  const lang = TEXTS[p.language] ? p.language : TEXTS[attr('lang')] ? attr('lang') : 'de',
    T = TEXTS[lang], box = el('div', 'rf-box'), f = el('form', 'rf-form'),
    st = el('p', 'rf-status'), errs = {};
  box.id = 'rf-signup';
  box.lang = lang;
  // The program's colour: a custom property through the CSSOM (the CSP allows it).
  if (/^#[0-9a-f]{3,8}$/i.test(p.accent_color || '')) box.style.setProperty('--rf-accent', p.accent_color);
  f.noValidate = true; // our messages, in the program's language
  const row = (cls, ...kids) => { const d = el('div', 'rf-field ' + cls); d.append(...kids); f.append(d); return d; };
  const hint = (name, d) => {
    const e = A(el('p', 'rf-field-error'), { id: 'rf-' + name + '-error', hidden: true });
    d.append(e); errs[name] = e; return e;
  };
  const field = (name, label, type, auto) => {
    const l = el('label', 'rf-label', label),
      i = A(el('input', 'rf-input'), { id: 'rf-' + name, name, type, autocomplete: auto });
    l.htmlFor = i.id;
    hint(name, row('rf-' + name + '-field', l, i));
    return i;
  };
  const email = field('email', T.email, 'email', 'email'),
    name = field('name', T.name, 'text', 'name'),
    cb = A(el('input', 'rf-checkbox'), { type: 'checkbox', id: 'rf-consent', name: 'consent' }),
    cl = el('label', 'rf-consent-text', p.consent_text || '');
  email.required = true; cb.required = true;
  email.setAttribute('inputmode', 'email');
  cl.htmlFor = cb.id;
  hint('consent', row('rf-consent', cb, cl));
  const btn = A(el('button', 'rf-submit', T.btn), { type: 'submit' });
  st.setAttribute('role', 'status');
  f.append(btn, st);
  box.append(f);
  const legal = el('p', 'rf-legal');
  [[p.imprint_url, T.imprint], [p.privacy_url, T.pp]].forEach(([u, t]) => {
    if (http(u)) legal.append(A(el('a', 'rf-link', t), { href: u, target: '_blank', rel: 'noopener' }));
  });
  if (legal.firstChild) box.append(legal);
  const inputs = { email, name, consent: cb };
  // A message next to its field (or under the button), read out by screen readers.
  const show = (fields, msg) => {
    let first;
    Object.keys(errs).forEach(k => {
      const m = fields[k], i = inputs[k];
      errs[k].textContent = m || ''; errs[k].hidden = !m;
      m ? i.setAttribute('aria-invalid', 'true') : i.removeAttribute('aria-invalid');
      m ? i.setAttribute('aria-describedby', errs[k].id) : i.removeAttribute('aria-describedby');
      if (m && !first) first = i;
    });
    st.className = 'rf-status' + (msg ? ' rf-error' : '');
    st.textContent = msg || '';
    if (first) first.focus();
  };
  const busy = on => { btn.disabled = on; btn.textContent = on ? T.busy : T.btn; f.setAttribute('aria-busy', on); };
  f.addEventListener('submit', ev => {
    try {
      ev.preventDefault();
      const b = { ref, email: email.value.trim(), consent: cb.checked, page: L.href }, bad = {};
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(b.email)) bad.email = T.bad_email;
      if (!b.consent) bad.consent = T.no_consent;
      show(bad);
      if (bad.email || bad.consent) return;
      if (name.value.trim()) b.name = name.value.trim();
      if (p.consent_version) b.consent_version = p.consent_version; // proof
      busy(true);
      // Accept-Language: the server's messages in the program's language too.
      fetch(API + 'register-lead', { method: 'POST', body: JSON.stringify(b), credentials: 'omit',
        headers: { 'Content-Type': 'application/json', 'Accept-Language': lang } })
        .then(r => r.json().catch(() => ({})).then(j => [r.status, j]), () => [0, {}])
        .then(([s, j]) => {
          busy(false);
          if (j.ok) {
            const ok = A(el('div', 'rf-success'), { tabIndex: -1 });
            ok.setAttribute('role', 'status');
            ok.append(el('p', 'rf-success-title', T.done), el('p', 'rf-success-text', T.ok));
            f.replaceWith(ok); ok.focus();
            return;
          }
          const c = j.error, fl = j.fields || {};
          if (c == 'invalid_email' || c == 'disposable_email') return show({ email: c == 'invalid_email' ? T.bad_email : j.message });
          if (c == 'consent_required') return show({ consent: T.no_consent });
          if (fl.email || fl.name || fl.consent) return show(fl);
          show({}, !s ? T.offline : s == 429 ? T.slow : j.message || T.err);
        });
    } catch (e) {}
  });
  // data-form-target, else after the tag (if in <body>), else end of <body>.
  let tgt;
  try { tgt = D.querySelector(attr('form-target')); } catch (e) {}
  if (tgt) tgt.append(box);
  else if (S && D.body.contains(S)) S.after(box);
  else D.body.append(box);
};
// Thank-you page: one conversion per load, then the sign-up form.
const thankyou = () => {
  let ref = Q.get('ref');
  if (!okRef(ref)) ref = attr('ref');
  if (!okRef(ref)) return;
  trackConversion(ref, Q.get('click_id'));
  fetch(API + 'program?ref=' + ref, { credentials: 'omit' })
    .then(r => r.json())
    .then(p => { if (p && p.ok && p.active) ready(() => styled(() => renderForm(ref, p))); })
    .catch(() => {});
};
W.ReferralTracking = { version: '1.0.0', trackClick, trackConversion };
const page = attr('page');
if (page == 'freebie') freebie();
else if (page == 'thankyou') thankyou(); // no fetch: beacon, no form
} catch (e) {} })();
