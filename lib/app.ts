import { createTokenVendingApp } from './token-vending-app';

createTokenVendingApp().app.synth();
