/* The same 32-bit FNV-1a checksum as clib's fm_checksum and fedcrate::checksum. */
"use strict";

function checksum(text) {
  let hash = 0x811c9dc5;
  // Hash UTF-8 bytes, as the C and Rust versions do.
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

function show() {
  const input = document.getElementById("text");
  const hex = checksum(input.value).toString(16).padStart(8, "0");
  document.getElementById("checksum").textContent = hex;
}

document.addEventListener("DOMContentLoaded", () => {
  const meta = document.querySelector('meta[name="build-mode"]');
  document.getElementById("mode").textContent = meta ? meta.content : "unknown";
  document.getElementById("text").addEventListener("input", show);
  show();
});
