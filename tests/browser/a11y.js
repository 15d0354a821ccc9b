// Accessibility basics of the page as it is shown: labels, names, contrast, keyboard order.
// Returns a list of problems (empty: none). Run by the browser tests with WebDriver.
const problems = [];
const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) && getComputedStyle(el).visibility !== "hidden";
const name = (el) => (el.getAttribute("aria-label") || el.textContent || el.value || "").trim();
if (!document.documentElement.lang) problems.push("html has no lang");
if (!document.title.trim()) problems.push("page has no title");
for (const el of document.querySelectorAll("input, select, textarea")) {
  if (el.type === "hidden") continue;
  const labelled = (el.labels && el.labels.length) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
  if (!labelled) problems.push(`unlabelled ${el.tagName.toLowerCase()}#${el.id}`);
}
for (const el of document.querySelectorAll("button, a[href], summary")) {
  if (visible(el) && !name(el)) problems.push(`no accessible name: ${el.outerHTML.slice(0, 80)}`);
}
for (const el of document.querySelectorAll("canvas")) {
  if (visible(el) && !(el.getAttribute("role") === "img" && el.getAttribute("aria-label"))) problems.push(`canvas#${el.id} has no role=img with aria-label`);
}
for (const el of document.querySelectorAll("[tabindex]")) {
  if (Number(el.getAttribute("tabindex")) > 0) problems.push(`positive tabindex on ${el.tagName}#${el.id}`);
}
// Contrast (WCAG 2.1 AA): 4.5:1, or 3:1 for large text, against the nearest opaque background.
const rgb = (text) => (text.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
  .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
const background = (el) => {
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] > 0.99)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
let checked = 0;
for (const el of document.querySelectorAll("body *")) {
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || !visible(el) || el.closest(".sr-only")) continue;
  const style = getComputedStyle(el);
  const fg = rgb(style.color).slice(0, 3);
  const [a, b] = [lum(fg), lum(background(el))].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  checked += 1;
  if (ratio < (large ? 3 : 4.5)) problems.push(`contrast ${ratio.toFixed(2)} for "${el.textContent.trim().slice(0, 40)}"`);
}
if (!checked) problems.push("no visible text to check");
return problems;
