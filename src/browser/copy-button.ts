// A "Copy" button for a value shown in a <code> element (the seal's hash, an
// https stream's signing secret): to the clipboard, or, where the clipboard
// is unavailable (it needs a secure context: https or localhost), the value
// is selected for Ctrl+C. The button says which for two seconds.
import { h } from "./dom.ts";

export function copyButton(value: string, code: HTMLElement, attributes: { id: string; label: string }): HTMLButtonElement {
  const button = h("button", { type: "button", className: "ghost small", id: attributes.id, "aria-label": attributes.label }, "Copy");
  const say = (text: string) => {
    button.textContent = text;
    setTimeout(() => {
      button.textContent = "Copy";
    }, 2_000);
  };
  const select = () => {
    const range = document.createRange();
    range.selectNodeContents(code);
    const selection = getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
  };
  button.addEventListener("click", () => {
    if (!navigator.clipboard) {
      select();
      say("Press Ctrl+C");
      return;
    }
    navigator.clipboard.writeText(value).then(() => say("Copied"), () => {
      select();
      say("Press Ctrl+C");
    });
  });
  return button;
}
