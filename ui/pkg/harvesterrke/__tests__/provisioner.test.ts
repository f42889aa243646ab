import { HarvesterRkeProvisioner } from '../provisioner';
import CruHarvesterRke from '../components/CruHarvesterRke.vue';
import { fakeRancher } from '../../../test/unit/helpers';
import { fixtures } from '../../../test/support/fixtures';

function provisioner(extraFixtures: any = {}) {
  const host = fakeRancher({ ...fixtures, ...extraFixtures });
  const p = new HarvesterRkeProvisioner({
    dispatch: host.store.dispatch, getters: host.store.getters, t: (k: string) => host.t(k, {}, true)
  } as any);

  return { p, host };
}

describe('HarvesterRkeProvisioner', () => {
  it('is the harvesterrke driver\'s tile, not the built-in Harvester node driver\'s', () => {
    const { p } = provisioner();

    expect(p.id).toBe('harvesterrke');
    expect(p.group).toBe('hosted');
    expect(p.label).toBe('RKE on Harvester');
    expect(p.component).toBe(CruHarvesterRke);
    expect(p.showImport).toBe(false);
  });

  it('maps its credentials to Rancher\'s Harvester cloud credentials through the host store', () => {
    const { host } = provisioner();

    expect(host.store.getters['plugins/credentialDriverFor']('harvesterrke')).toBe('harvester');
  });

  it('shows the tile only while the cluster driver is active', () => {
    expect(provisioner().p.hidden).toBe(false);
    expect(provisioner({ kontainerDrivers: [{ driverName: 'harvesterrke', spec: { active: false } }] }).p.hidden).toBe(true);
    expect(provisioner({ kontainerDrivers: [] }).p.hidden).toBe(true);
  });

  it('shows the tile to users who may not list cluster drivers', () => {
    const { p, host } = provisioner({ kontainerDrivers: [] });

    (host.store.getters as any)['management/canList'] = () => false;
    expect(p.hidden).toBe(false);
  });
});
