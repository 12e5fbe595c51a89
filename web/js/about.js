// The "how it works" page: only its texts.
import { translatePage } from './i18n.js';

translatePage();
