// A click on a figure opens its full-size image: each figure image (and image output) is
// wrapped in a link to its own file. Local script, no library, works offline.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("figure img, div.cell_output img").forEach((img) => {
    if (img.closest("a")) return;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.className = "dln-zoom";
    link.title = "Open the full-size image";
    img.parentNode.insertBefore(link, img);
    link.appendChild(img);
  });
});
