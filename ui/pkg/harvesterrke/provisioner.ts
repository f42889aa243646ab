import type { Component } from 'vue';
import { IClusterProvisioner, ClusterProvisionerContext } from '@shell/core/types';
import CruHarvesterRke from './components/CruHarvesterRke.vue';
import { DRIVER_NAME } from './util/options';

const KONTAINER_DRIVER = 'management.cattle.io.kontainerdriver';

/**
 * The "RKE on Harvester" tile of Cluster Management > Create. Its id is the kontainer-engine
 * driver's name, so the Dashboard shows this form instead of the driver's disabled legacy tile.
 * (Not `harvester`: that is the built-in Harvester node driver's tile, which must stay.)
 */
export class HarvesterRkeProvisioner implements IClusterProvisioner {
  // A getter, not a static field: with the tsconfig's useDefineForClassFields a field compiles to a
  // static block, which the Babel of older shells cannot parse.
  static get ID(): string {
    return DRIVER_NAME;
  }

  constructor(private context: ClusterProvisionerContext) {
    // Offer Rancher's Harvester cloud credentials (a kubeconfig) in the credential selector. Through
    // the host's store: calling mapDriver() from @shell/store/plugins would only change this bundle's
    // own copy of that module, which the Dashboard's credential lookup never reads.
    context.dispatch('plugins/mapDriver', { name: this.id, to: 'harvester' }, { root: true });
  }

  get id(): string {
    return HarvesterRkeProvisioner.ID;
  }

  get icon(): any {
    return require('./icon.svg');
  }

  get group(): string {
    return 'hosted';
  }

  get label(): string {
    return this.context.t('harvesterrke.label');
  }

  get description(): string {
    return this.context.t('harvesterrke.description');
  }

  get component(): Component {
    return CruHarvesterRke;
  }

  // Without the cluster driver active in Rancher (Cluster Management > Drivers) a cluster could not be
  // made, so no tile. Users who may not list drivers still see it: Rancher checks when they create.
  get hidden(): boolean {
    const getters = this.context.getters;

    if (!getters['management/canList'](KONTAINER_DRIVER)) {
      return false;
    }

    return !(getters['management/all'](KONTAINER_DRIVER) || []).some((d: any) => d.driverName === DRIVER_NAME && d.spec?.active);
  }

  get disabled(): boolean {
    return false;
  }

  get showImport(): boolean {
    return false;
  }

  // Kontainer-engine clusters have no RKE2 machines, logs, registration or snapshots in the Dashboard.
  get detailTabs() {
    return {
      machines:     false,
      logs:         false,
      registration: false,
      snapshots:    false,
      related:      true,
      events:       true,
      conditions:   true,
    };
  }
}
