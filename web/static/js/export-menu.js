// The Export menu: links to GET /tasks/export in each format, with the list's filters (its
// status tab and search), so the file holds what the list shows. The browser downloads it
// as it streams; nothing passes through this page.

export class ExportMenu {
  constructor(menu) {
    this.menu = menu;
    this.links = [...menu.querySelectorAll("[data-export]")];
    this.key = null;
    // Closes once a format is picked, or on a click anywhere else, as menus do.
    document.addEventListener("click", (event) => {
      if (menu.open && (!menu.contains(event.target) || event.target.closest("[data-export]"))) {
        menu.open = false;
      }
    });
  }

  /** Point the links at the filters' export (only when they changed). */
  update(filters) {
    const key = `${filters.status}|${filters.query}`;
    if (key === this.key) return;
    this.key = key;
    for (const link of this.links) {
      const query = new URLSearchParams({ format: link.dataset.export });
      if (filters.status !== "all") query.set("status", filters.status);
      if (filters.query) query.set("search", filters.query);
      link.href = `/tasks/export?${query}`;
    }
  }
}
