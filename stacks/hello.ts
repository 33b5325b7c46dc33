import { App, Stack, TextFile } from 'hpcdk';

const app = new App();
const stack = new Stack(app, 'hello', { description: 'the smallest stack: one file' });
new TextFile(stack, 'greeting', { fileName: 'greeting.txt', content: 'hello from hpcdk\n' });
void app;
