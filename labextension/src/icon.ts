import { LabIcon } from '@jupyterlab/ui-components';

/** A nucleus, a tilted orbit and its electron: the Lepton tab and settings icon. */
const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <circle cx="12" cy="12" r="2.6"/>
    <path fill-rule="evenodd" transform="rotate(-35 12 12)" d="M1.5 12a10.5 4.5 0 1 0 21 0a10.5 4.5 0 1 0-21 0zM3 12a9 3 0 1 0 18 0a9 3 0 1 0-18 0z"/>
    <circle cx="20" cy="6.4" r="1.9"/>
  </g>
</svg>`;

export const leptonIcon = new LabIcon({
  name: 'lepton-jupyter:lepton',
  svgstr
});
