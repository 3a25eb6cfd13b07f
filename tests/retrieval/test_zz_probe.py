import sqlalchemy as sa


async def test_probe(resources):
    t = "[Documento › Formulario <b>contacto</b>]\\nEl formulario de contacto mostraba <script>alert(1)</script> sin escapar. " + 'También <img src=x onerror="alert(2)"> y un enlace <a href="javascript:alert(3)">aquí</a> & más.'
    async with resources.engine.connect() as conn:
        r = await conn.execute(sa.text("SELECT alias, token FROM ts_debug('spanish', :t)"), {"t": t})
        print(r.all())
