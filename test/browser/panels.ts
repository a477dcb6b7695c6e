/**
 * Waiting on the dashboard's panels in a page (conditions, never sleeps), shared by the browser tests and the
 * dashboard benchmark. Every panel carries `data-loading` ("true" while its data is being fetched).
 */
import type { Page } from 'playwright-core';

/** Until the current view has panels and none of them is loading. */
export async function panelsSettled(page: Page, timeout = 30_000): Promise<void> {
  await page.waitForFunction(
    () => {
      const ps = [...document.querySelectorAll('main [data-panel]')];
      return ps.length > 0 && ps.every((p) => p.getAttribute('data-loading') === 'false');
    },
    undefined,
    { timeout, polling: 'raf' },
  );
}

/**
 * Clicks Reload and returns, per panel that reloaded, the ms from the click until the panel held its new data
 * (its `data-loading` went from "true" back to "false").
 */
export function refreshTimes(page: Page, timeout = 30_000): Promise<Record<string, number>> {
  return page.evaluate(
    (limit) =>
      new Promise<Record<string, number>>((resolve, reject) => {
        const main = document.querySelector('main');
        const reload = document.querySelector<HTMLButtonElement>('[data-control="reload"]');
        if (!main || !reload) return reject(new Error('no view or no Reload button'));
        const started = new Set<string>();
        const times: Record<string, number> = {};
        const t0 = performance.now();
        const timer = setTimeout(() => {
          mo.disconnect();
          reject(new Error(`panels still loading after ${limit} ms: ${[...started].join(', ')}`));
        }, limit);
        const mo = new MutationObserver((records) => {
          for (const r of records) {
            const el = r.target as HTMLElement;
            const id = el.dataset['panel'] ?? '';
            // Each record holds the value before its change: "false" -> started loading, "true" -> done.
            if (r.oldValue === 'false') started.add(id);
            else if (r.oldValue === 'true' && !(id in times)) times[id] = performance.now() - t0;
          }
          if (started.size > 0 && [...started].every((id) => id in times)) {
            mo.disconnect();
            clearTimeout(timer);
            resolve(times);
          }
        });
        mo.observe(main, {
          attributes: true,
          attributeOldValue: true,
          subtree: true,
          attributeFilter: ['data-loading'],
        });
        reload.click();
      }),
    timeout,
  );
}
