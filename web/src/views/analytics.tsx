import { Empty, Panel } from '../components.tsx';

/** Anomalies, behavioural features and trends come with the analytics work; until then this says so. */
export function Analytics() {
  return (
    <div class="grid">
      <Panel title="Analytics" id="analytics" wide>
        <Empty>
          No analytics yet: anomaly detection, behavioural features and trends are not computed by this
          version of the collector. The Overview, Sessions and Security views show what is measured today.
        </Empty>
      </Panel>
    </div>
  );
}
