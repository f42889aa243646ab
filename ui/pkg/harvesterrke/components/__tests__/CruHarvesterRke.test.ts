import { mountForm } from '../../../../test/unit/helpers';

describe('CruHarvesterRke', () => {
  it('mounts in create mode', async() => {
    const { wrapper, host } = await mountForm();

    expect(wrapper.find('[data-testid="hrke-form"]').exists()).toBe(true);
    expect([...host.unknown.getters]).toEqual([]);
    expect([...host.unknown.actions]).toEqual([]);
  });
});
