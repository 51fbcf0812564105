// authsvc customer pages: the expiry in the phone's own time and language, a
// countdown, a warning a minute before the page expires that offers the page's
// "I need more time" button (WCAG 2.2.1), and codes that fill themselves (WebOTP).
//
// Loaded as a file with the page's CSP nonce; no inline code, no HTML built from
// strings (the page runs under Trusted Types). Every text it shows comes from the
// page (data-* attributes), in the page's language. Without it the page works the
// same: the expiry shows in UTC, the code is typed or pasted.
(function () {
  "use strict";

  var WARN_MS = 60 * 1000; // the warning leaves her a minute (WCAG 2.2.1 asks for 20 s)
  var lang = document.documentElement.lang || "en";

  function format(template, value) {
    return template.replace("%[1]s", value);
  }

  function setUpExpiry() {
    var time = document.getElementById("expires");
    var timing = document.getElementById("timing");
    if (!time || !timing) {
      return;
    }
    var at = Date.parse(time.getAttribute("datetime"));
    var seconds = parseInt(time.dataset.seconds, 10);
    if (isNaN(at) || isNaN(seconds)) {
      return;
    }
    // The countdown runs from what the server says is left, not from the phone's
    // clock, which may be off; the time shown is the instant in her time zone.
    var end = Date.now() + seconds * 1000;
    try {
      time.textContent = new Intl.DateTimeFormat(lang, {
        hour: "numeric",
        minute: "2-digit",
        timeZoneName: "short",
      }).format(new Date(at));
    } catch (e) {
      // Keep the UTC time the server wrote.
    }
    var countdown = document.getElementById("countdown");
    // The page's own "I need more time" form (a plain POST, there without script too).
    var extend = document.getElementById("extend");
    var extendButton = document.getElementById("extend-button");
    var warned = false;
    var over = false;
    function tick() {
      var left = end - Date.now();
      if (left <= 0) {
        if (!over) {
          over = true;
          countdown.hidden = true;
          timing.textContent = timing.dataset.expired;
          if (extend) {
            extend.hidden = true; // too late: the server would refuse it
          }
        }
        return;
      }
      var s = Math.ceil(left / 1000);
      var mm = Math.floor(s / 60);
      var ss = s % 60;
      countdown.textContent = " · " + format(timing.dataset.left, mm + ":" + (ss < 10 ? "0" : "") + ss);
      countdown.hidden = false;
      if (left <= WARN_MS && !warned) {
        warned = true;
        warn();
      }
      // Next at the next whole second left.
      setTimeout(tick, left % 1000 || 1000);
    }
    // warn says, in the live region, that time is short; where the page offers more
    // time it names the button, makes it the prominent one and moves focus to it,
    // unless she is typing in a field (focus is not taken from under her).
    function warn() {
      if (!extendButton || !timing.dataset.extend) {
        timing.textContent = timing.dataset.soon;
        return;
      }
      timing.textContent = timing.dataset.extend;
      extendButton.classList.remove("secondary");
      extendButton.classList.add("primary");
      var active = document.activeElement;
      var typing = active && (active.tagName === "INPUT" || active.tagName === "TEXTAREA") && active.type !== "hidden";
      if (!typing) {
        extendButton.focus();
      }
    }
    tick();
  }

  // WebOTP: Chrome on Android reads the code from the SMS whose last line is
  // "@<this host> #<code>" and offers it; the code is put in the field, and the
  // customer still presses Confirm herself.
  function setUpWebOTP() {
    var timing = document.getElementById("timing");
    var input = document.getElementById("code");
    if (!timing || !input || timing.dataset.webotp !== "1" || !("OTPCredential" in window)) {
      return;
    }
    var ac = new AbortController();
    var form = input.form;
    if (form) {
      form.addEventListener("submit", function () {
        ac.abort();
      });
    }
    navigator.credentials
      .get({ otp: { transport: ["sms"] }, signal: ac.signal })
      .then(function (otp) {
        if (otp && otp.code && !input.value) {
          input.value = otp.code;
          input.focus();
        }
      })
      .catch(function () {
        // Declined, aborted or not available: she types or pastes the code.
      });
  }

  setUpExpiry();
  setUpWebOTP();
})();
