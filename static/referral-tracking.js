/* Referral tracking, see docs/tracking-script.md. No cookies, no third
 * parties; all in try/catch so the host page never sees our errors. */
(() => { try {
const W = window, D = document, L = location, A = Object.assign;
// Tag pasted twice: first copy wins, no double tracking.
if (W.ReferralTracking) return;
// currentScript is set only during this first synchronous run.
const S = D.currentScript || D.querySelector('script[src*="referral-tracking.js"]'),
  attr = n => S && S.getAttribute('data-' + n),
  API = (attr('base') || (S && S.src || '').replace(/\/static\/referral-tracking\.js.*$/, ''))
  .replace(/\/+$/, '') + '/api/referral/';
const EN = attr('lang') == 'en', T = EN ? {
  email: 'Email', btn: 'Join now', busy: 'Sending…', pp: 'Privacy policy',
  ok: 'Almost done! Please check your inbox: if this address still needs confirming, an email with the link is on its way. Nothing there? Look in your spam folder, or try again in a few minutes.',
  err: 'That did not work. Please try again later.'
} : {
  email: 'E-Mail', btn: 'Jetzt mitmachen', busy: 'Wird gesendet…', pp: 'Datenschutz',
  ok: 'Fast geschafft! Schau in dein Postfach: Wenn diese Adresse noch bestätigt werden muss, ist eine E-Mail mit dem Link unterwegs. Nichts da? Sieh im Spam-Ordner nach oder versuche es in ein paar Minuten erneut.',
  err: 'Das hat leider nicht geklappt. Bitte versuche es später erneut.'
},
  okRef = r => typeof r == 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(r),
  okCid = c => /^[1-9]\d{0,15}$/.test(c),
  Q = new URLSearchParams(L.search),
  PAGE = L.origin + L.pathname, // the query may hold personal data
  NO = Promise.resolve({ ok: false });
// JSON POST; credentials:'omit' so no cookies travel cross-origin.
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
const renderForm = (ref, p) => {
  const box = el('div', 'rf-box'), f = el('form', 'rf-form');
  box.id = 'rf-signup';
  box.lang = EN ? 'en' : 'de';
  if (p.company_name) box.append(el('p', 'rf-intro', p.company_name));
  const field = (name, label, type, required) => {
    const l = el('label', 'rf-label', label),
      i = A(el('input', 'rf-input'), { id: 'rf-' + name, name, type, required, autocomplete: name });
    l.htmlFor = i.id;
    f.append(l, i);
    return i;
  };
  const email = field('email', T.email, 'email', true),
    name = field('name', 'Name (optional)', 'text', false);
  const cl = el('label', 'rf-consent'),
    cb = A(el('input'), { type: 'checkbox', id: 'rf-consent', name: 'consent', required: true });
  cl.append(cb, el('span', 'rf-consent-text', ' ' + (p.consent_text || '')));
  f.append(cl);
  // http(s) only: a "javascript:" privacy_url would be XSS.
  if (/^https?:\/\//i.test(p.privacy_url))
    f.append(A(el('a', 'rf-privacy', T.pp), { href: p.privacy_url, target: '_blank', rel: 'noopener' }));
  const btn = A(el('button', 'rf-submit', T.btn), { type: 'submit' }),
    st = el('p', 'rf-status');
  st.setAttribute('aria-live', 'polite');
  f.append(btn);
  box.append(f, st);
  f.style.cssText = 'display:grid;gap:.4em;max-width:30em'; // usable unstyled
  f.addEventListener('submit', ev => {
    try {
      ev.preventDefault();
      btn.disabled = true; st.className = 'rf-status'; st.textContent = T.busy;
      const b = { ref, email: email.value.trim(), consent: cb.checked, page: L.href };
      if (name.value.trim()) b.name = name.value.trim();
      if (p.consent_version) b.consent_version = p.consent_version; // proof
      post('register-lead', b).then(j => {
        const ok = j && j.ok;
        st.className = 'rf-status rf-' + (ok ? 'success' : 'error');
        st.textContent = ok ? T.ok : (j && j.message) || T.err;
        ok ? f.style.display = 'none' : btn.disabled = false;
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
    .then(p => { if (p && p.ok && p.active) ready(() => renderForm(ref, p)); })
    .catch(() => {});
};
W.ReferralTracking = { version: '1.0.0', trackClick, trackConversion };
const page = attr('page');
if (page == 'freebie') freebie();
else if (page == 'thankyou') thankyou(); // no fetch: beacon, no form
} catch (e) {} })();
