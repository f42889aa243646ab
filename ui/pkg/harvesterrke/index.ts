import { importTypes } from '@rancher/auto-import';
import { IPlugin } from '@shell/core/types';
import { HarvesterRkeProvisioner } from './provisioner';

// Entry point: Rancher calls this when it loads the extension.
export default function(plugin: IPlugin): void {
  // Registers l10n/en-us.yaml (and any other conventional folders).
  importTypes(plugin);

  plugin.metadata = require('./package.json');
  plugin.metadata.icon = require('./icon.svg');

  plugin.register('provisioner', HarvesterRkeProvisioner.ID, HarvesterRkeProvisioner);
}
