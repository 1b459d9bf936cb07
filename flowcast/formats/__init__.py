"""What flowcast keeps on disk: the history dataset, the model directory, the city file, one atomic
write.
"""
