// Placeholder until the dashboard lands: proves the build, the served bundle and the CSP.
import { render } from 'preact';
import './styles.css';

render(<main data-testid="placeholder">Iron Cage</main>, document.getElementById('app')!);
