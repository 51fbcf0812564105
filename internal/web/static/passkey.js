// authsvc customer pages: the passkey button and the in-app browser notice.
//
// Loaded as a file with the page's CSP nonce; no inline code, no framework, no
// HTML built from strings (the page runs under Trusted Types). Every text it shows
// comes from the page (data-* attributes) or from the server's JSON reply, both in
// the page's language.
//
// The passkey box (#passkey) names its endpoints: POST data-begin with the page's
// nonce returns {outcome: "ok", options, nonce}; the options go to
// navigator.credentials.get (data-mode "get") or .create ("create"); the
// credential goes to POST data-finish with the nonce begin returned. Every reply is
// {outcome, title?, message, tone?}: final outcomes replace the page's content,
// others are said beside the button, which stays usable.
(function () {
  "use strict";

  var FINAL = { verified: true, enrolled: true, failed: true, gone: true };

  function toBuffer(b64url) {
    var s = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toBase64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIDs(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: toBuffer(c.id) });
    });
  }

  // requestOptions and creationOptions turn the server's JSON options (binary
  // fields in base64url) into what the WebAuthn API takes (ArrayBuffers).
  function requestOptions(pk) {
    var o = Object.assign({}, pk, { challenge: toBuffer(pk.challenge) });
    if (pk.allowCredentials) {
      o.allowCredentials = withIDs(pk.allowCredentials);
    }
    return o;
  }

  function creationOptions(pk) {
    var o = Object.assign({}, pk, {
      challenge: toBuffer(pk.challenge),
      user: Object.assign({}, pk.user, { id: toBuffer(pk.user.id) }),
    });
    if (pk.excludeCredentials) {
      o.excludeCredentials = withIDs(pk.excludeCredentials);
    }
    return o;
  }

  // credentialJSON is the PublicKeyCredential as the server parses it.
  function credentialJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(r.clientDataJSON) },
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle && r.userHandle.byteLength) {
        out.response.userHandle = toBase64url(r.userHandle);
      }
    }
    return out;
  }

  function setUpCopy() {
    var copy = document.getElementById("inapp-copy");
    var input = document.getElementById("inapp-link");
    var said = document.getElementById("inapp-status");
    if (!copy || !input || !said) {
      return;
    }
    function done() {
      said.textContent = copy.dataset.copied;
    }
    function fallback() {
      input.focus();
      input.select();
      try {
        if (document.execCommand("copy")) {
          done();
        }
      } catch (e) {
        // Selected: the customer can copy it by hand.
      }
    }
    copy.hidden = false;
    copy.addEventListener("click", function () {
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(done, fallback);
      } else {
        fallback();
      }
    });
  }

  function setUpPasskey() {
    var box = document.getElementById("passkey");
    if (!box) {
      return;
    }
    var mode = box.dataset.mode;
    var api = window.PublicKeyCredential && navigator.credentials;
    if (!api || (mode === "create" ? !navigator.credentials.create : !navigator.credentials.get)) {
      // No WebAuthn here (often an app's own browser): say how to get out.
      var notice = document.getElementById("inapp");
      if (notice) {
        notice.hidden = false;
      }
      return;
    }
    var button = document.getElementById("passkey-button");
    var status = document.getElementById("passkey-status");
    var lang = document.documentElement.lang;
    var retry = { outcome: "retry", message: box.dataset.retry };
    box.hidden = false;

    function post(url, body) {
      return fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
        redirect: "error",
      }).then(
        function (res) {
          return res.json().catch(function () {
            return retry;
          });
        },
        function () {
          return retry;
        },
      );
    }

    function finalPage(res) {
      var main = document.querySelector("main");
      var h1 = main.querySelector("h1");
      while (h1.nextSibling) {
        main.removeChild(h1.nextSibling);
      }
      h1.textContent = res.title || "";
      var p = document.createElement("p");
      p.id = "result";
      p.textContent = res.message || "";
      main.appendChild(p);
      if (res.tone === "ok" || res.tone === "stop") {
        main.classList.add("tone-" + res.tone);
      }
      if (res.title) {
        document.title = res.title;
      }
      h1.tabIndex = -1;
      h1.focus();
    }

    function show(res) {
      if (res && res.outcome === "verified" && typeof res.next === "string" && res.next.indexOf(location.origin + "/") === 0) {
        // Verified with a handover to offer: the page shows it (a GET in this browser).
        location.assign(res.next);
        return;
      }
      if (res && FINAL[res.outcome]) {
        finalPage(res);
        return;
      }
      status.textContent = (res && res.message) || retry.message;
      button.disabled = false;
    }

    function ceremony(options) {
      if (mode === "create") {
        return navigator.credentials.create({ publicKey: creationOptions(options.publicKey) });
      }
      return navigator.credentials.get({ publicKey: requestOptions(options.publicKey) });
    }

    button.addEventListener("click", function () {
      button.disabled = true;
      status.textContent = box.dataset.working;
      post(box.dataset.begin, { nonce: box.dataset.nonce, lang: lang })
        .then(function (begun) {
          if (!begun || begun.outcome !== "ok") {
            return begun;
          }
          return ceremony(begun.options).then(
            function (cred) {
              if (!cred) {
                return retry;
              }
              return post(box.dataset.finish, { nonce: begun.nonce, lang: lang, credential: credentialJSON(cred) });
            },
            function () {
              // Cancelled, timed out, or refused by the browser: nothing reached us.
              return retry;
            },
          );
        })
        .then(show, function () {
          show(retry);
        });
    });
  }

  setUpCopy();
  setUpPasskey();
})();
