// The "how it works" and legal pages: their texts, and the operator's notice as Markdown.
import { translatePage } from './i18n.js';
import { renderNotice } from './legal.js';

translatePage();
renderNotice();
