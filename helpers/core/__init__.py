"""Floor 0: what every stage shares: input validation, the library's window geometry, the chemistry of
the TMDs, atomic file output and batched prediction.

Modules
-------
``atomic``
    Safe file output: write to a temporary name, then move into place; never overwrite silently.
    Public: ``atomic_output``.
``batches``
    Running a Keras model over many inputs, fast on a few CPU cores.
    Public: ``predict_batches``.
``chemistry``
    Column chemistry of a transition-metal dichalcogenide monolayer (2H, seen along c): the
    elements
    Public: ``Chemistry``, ``chemistry_of``, ``materials_for_ratio``, ``plausible_exponent``.
``validation``
    Input checks that turn bad input into a clear error naming the problem.
    Public: ``InputError``, ``check_pixel_size``, ``check_image``.
``windows``
    Cut windows out of images at a given pixel size, orientation and centre (all lengths in Å).
    Public: ``window_coordinates``, ``cut_window``.
"""
__all__ = ['atomic', 'batches', 'chemistry', 'validation', 'windows']
