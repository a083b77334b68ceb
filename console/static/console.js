// mtlsgate console: progressive enhancement only; every form works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Upload: suggest a name from the chosen file when the name is empty.
  var file = document.getElementById("bundle");
  var name = document.getElementById("name");
  if (file && name) {
    file.addEventListener("change", function () {
      if (name.value === "" && file.files.length > 0) {
        name.value = file.files[0].name.replace(/\.(pem|crt|cer|der)$/i, "");
      }
    });
  }
});
